"""The typed client other government systems use for the policy-lookup API: httpx and pydantic only."""

from jingce_client.client import PolicyAPIError, PolicyClient

__all__ = ["PolicyAPIError", "PolicyClient"]
