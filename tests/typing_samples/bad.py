"""Calls that must NOT type-check; each line ends with the error both checkers must report.

``# expect: <mypy error code> <pyright rule>`` (tests/test_typing.py).
"""

from __future__ import annotations

import fapilog

log = fapilog.get_logger("sample")
strings: dict[str, str] = {"a": "b"}

log.info()  # expect: call-arg reportCallIssue
log.trace()  # expect: call-arg reportCallIssue
log.error("failed", exc_info="yes")  # expect: arg-type reportArgumentType
log.info("named", event_name=3)  # expect: arg-type reportArgumentType
log.exception("x", exc_info=1.5)  # expect: arg-type reportArgumentType
log.log("info")  # expect: call-arg reportCallIssue
log.log(1.5, "float level")  # expect: arg-type reportArgumentType
log.with_stacklevel("2")  # expect: arg-type reportArgumentType
log.timed(3)  # expect: arg-type reportArgumentType
log.info("unpacked", **strings)  # expect: arg-type reportArgumentType


async def handler() -> None:
    await log.ainfo()  # expect: call-arg reportCallIssue
    await log.aerror("x", exc_info="yes")  # expect: arg-type reportArgumentType


fapilog.configure(levle="debug")  # expect: call-arg reportCallIssue
fapilog.configure(level=1.5)  # expect: arg-type reportArgumentType
fapilog.configure(overflow="drop_everything")  # expect: arg-type reportArgumentType
fapilog.configure(max_queue_size="big")  # expect: arg-type reportArgumentType
fapilog.configure(callsite=True)  # expect: arg-type reportArgumentType
fapilog.catch(reraise="no")  # expect: call-overload reportCallIssue
