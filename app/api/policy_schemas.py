"""Response models of the policy-lookup API (`/v1/policies…`): declared in jingce_client.models (the
client other systems install reads the same models), built here from the catalogue's results."""

from __future__ import annotations

from app.lookup.catalogue import ChunkMatch, PolicyMatch
from jingce_client.models import (
    ChunkContextOut, ChunkMatchOut, ChunkOut, ChunkRef, FacetsOut, FacetValue, HighlightOut, PolicyDocumentOut,
    PolicyMatchOut, PolicyMeta, PolicyPageOut, RelatedOut,
)

__all__ = ["ChunkContextOut", "ChunkMatchOut", "ChunkOut", "ChunkRef", "FacetsOut", "FacetValue", "HighlightOut",
           "PolicyDocumentOut", "PolicyMatchOut", "PolicyMeta", "PolicyPageOut", "RelatedOut", "chunk_match_out",
           "match_out"]


def chunk_match_out(match: ChunkMatch) -> ChunkMatchOut:
    s = match.snippet
    return ChunkMatchOut(chunk_id=match.chunk_id, heading_path=match.heading_path, start=match.start, end=match.end,
                         score=match.score, snippet=s.text, snippet_start=s.start, snippet_end=s.end,
                         snippet_html=s.marked(), highlights=[HighlightOut(**vars(h)) for h in s.highlights])


def match_out(match: PolicyMatch) -> PolicyMatchOut:
    return PolicyMatchOut(document=PolicyMeta.of(match.document), score=match.score,
                          chunks=[chunk_match_out(c) for c in match.chunks])
