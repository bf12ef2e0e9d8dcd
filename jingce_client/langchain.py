"""A LangChain retriever over a deployed service's hybrid search (`GET /v1/search`), so that a
LangChain application elsewhere retrieves Beijing policy clauses with their 文号, validity and span:

    from jingce_client.langchain import PolicySearchRetriever
    retriever = PolicySearchRetriever(base_url="http://jingce.internal:8000", api_key=os.environ["JINGCE_API_KEY"])
    docs = retriever.invoke("低保标准")            # or `await retriever.ainvoke(…)`, or `retriever | …` in LCEL
    docs[0].metadata["doc_number"]                # "京民社救发〔2024〕80号"

Each Document is one chunk: its text, and as metadata the API's: doc_id, chunk_id, title, doc_number,
issuer, validity, published, source_url, the chunk's start/end offsets in the document body, its
heading path and score. Documents known to be out of force are left out unless asked for
(`include_not_in_force=True`). Errors raise `PolicyAPIError` with the problem details. Needs
langchain-core besides the client's httpx and pydantic.
"""

from __future__ import annotations

from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from jingce_client.client import PolicyAPIError, _params, _problem


class PolicySearchRetriever(BaseRetriever):
    base_url: str
    api_key: str | None = None
    top_k: int = 5
    include_not_in_force: bool = False
    issuer: str | None = None
    district: str | None = None
    timeout_s: float = 10.0

    def _request(self, query: str) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {"url": f"{self.base_url.rstrip('/')}/v1/search", "headers": headers, "params": _params(
            q=query, top_k=self.top_k, include_not_in_force=str(self.include_not_in_force).lower(),
            issuer=self.issuer, district=self.district)}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return _documents(httpx.get(**self._request(query), timeout=self.timeout_s))

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            return _documents(await client.get(**self._request(query)))


def _documents(response: httpx.Response) -> list[Document]:
    if response.status_code >= 400:
        raise PolicyAPIError(_problem(response))
    return [Document(page_content=hit["text"], id=hit["chunk_id"], metadata={
        **{k: v for k, v in hit["document"].items() if v is not None}, "chunk_id": hit["chunk_id"],
        "start": hit["start"], "end": hit["end"], "heading_path": hit["heading_path"], "score": hit["score"]})
        for hit in response.json()["hits"]]
