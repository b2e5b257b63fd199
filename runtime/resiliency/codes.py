"""Status-code sets of ``retries.<name>.matching``: ``"500-599,429"``, ``"14"``, ``"1-4,8"``."""

from __future__ import annotations

__all__ = ["GRPC_CODES", "HTTP_CODES", "parse_codes"]

HTTP_CODES = (100, 599)  # the valid range of HTTP status codes (Dapr's)
GRPC_CODES = (0, 16)  # OK .. UNAUTHENTICATED


def parse_codes(text: object, valid: tuple[int, int]) -> frozenset[int]:
    """The codes listed in ``text`` (single codes and ``start-end`` ranges, comma separated).

    Raises ValueError naming the bad entry. An empty string means no filter: the empty set.
    """
    lo, hi = valid
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(  # noqa: TRY004 (pydantic only converts ValueError)
            f'expected a string of codes and ranges such as "{lo}-{hi}"'
        )
    codes: set[int] = set()
    for raw in str(text).split(","):
        part = raw.strip()
        if not part:
            if str(text).strip():
                raise ValueError(f"empty entry in {text!r}")
            continue
        start_text, sep, end_text = part.partition("-")
        try:
            start = int(start_text.strip())
            end = int(end_text.strip()) if sep else start
        except ValueError:
            raise ValueError(
                f"invalid code {part!r}: expected a number or a range such as {lo}-{hi}"
            ) from None
        if not (lo <= start <= hi and lo <= end <= hi):
            raise ValueError(f"code {part!r} is out of range: valid codes are {lo}-{hi}")
        if start > end:
            raise ValueError(f"invalid range {part!r}: start is above end")
        codes.update(range(start, end + 1))
    return frozenset(codes)
