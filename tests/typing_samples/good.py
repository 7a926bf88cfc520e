"""Calls that must type-check cleanly (tests/test_typing.py runs mypy and basedpyright)."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta
from typing import Any

import fapilog
from fapilog import Logger

log: Logger = fapilog.get_logger("sample")

log.trace("t")
log.debug("d", user="u1")
log.info("paid", order_id=7, amount=12.5, tags=["a", "b"], extra={"k": 1})
log.warning("slow %s took %d ms", "query", 812, duration_ms=812)
log.error("failed", exc_info=True)
log.error("failed", exc_info=ValueError("x"))
log.error("failed", exc_info=sys.exc_info())
log.error("failed", exc_info=None, event_name=None)
log.critical("down", event_name="service.down")
log.exception("charge failed", order_id=7)
log.log("warning", "by name")
log.log(logging.ERROR, "by number", code=3)
fields: dict[str, Any] = {"a": 1}
log.info("unpacked", **fields)
log.info(42)  # any object is a message

bound: Logger = log.bind(request_id="r-1").with_stacklevel(2)
enabled: bool = bound.is_enabled_for("trace")


async def handler() -> None:
    await log.atrace("t")
    await log.adebug("d")
    await log.ainfo("i", job="j-1")
    await log.awarning("w")
    await log.aerror("e", exc_info=True)
    await log.acritical("c")
    await log.aexception("x")
    await log.alog("info", "l")
    task: asyncio.Task[None] = asyncio.create_task(log.ainfo("as a task"))
    await task
    async with log.timed("block"):
        pass
    async with fapilog.catch(reraise=False):
        pass


with log.timed("db.query", table="orders", level="debug", span=True):
    pass


@log.timed("work")
def work(n: int) -> int:
    return n


@log.timed("awork")
async def awork(n: int) -> str:
    return str(n)


@fapilog.catch
def job(n: int) -> int:
    return n


@fapilog.catch(reraise=False, default=-1)
def price(n: int) -> int:
    return n


@fapilog.catch(logger=log, level="critical", message="boom", exception=(KeyError, ValueError))
async def aprice(n: int) -> int:
    return n


@log.catch(reraise=False)
def maybe(n: int) -> int:
    return n


with fapilog.catch(message="cleanup failed", reraise=False):
    pass

a: int = work(1)
b: int = job(1)
c: int = price(1)  # the default is an int too
d: int | None = maybe(1)


async def use() -> None:
    e: str = await awork(1)
    f: int = await aprice(1)
    print(e, f)


fapilog.configure(
    level="trace",
    service_name="shop",
    exporters=["console"],
    console_format="pretty",
    file_rotate_every=timedelta(hours=1),
    max_queue_size=10_000,
    overflow="drop_oldest",
    baggage_keys=["tenant"],
    redaction=True,
    redaction_hmac_key="k",
    compliance="pci-dss",
    callsite="on",
)
fapilog.configure(level=10, file_max_age=3600, compliance=["gdpr"], callsite="auto")
print(a, b, c, d, enabled)
