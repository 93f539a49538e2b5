"""anyodm: a MongoDB ODM for pydantic v2 on trio, asyncio and plain sync code."""
