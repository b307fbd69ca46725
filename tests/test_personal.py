"""Natural persons' ID numbers are masked as the sources mask them, and nothing else is."""

from __future__ import annotations

import json

import pytest
import structlog

from gateway.domain.personal import is_id_number, mask_deep, mask_ids
from gateway.observability import configure_logging, get_logger
from gateway.store.database import Tx
from gateway.store.repo import Repo
from tests.test_api_harness import GS, LEASE, NOW, open_harness

# GB 11643 examples with valid check characters (one ending in X), and a 15-digit one.
ID_18 = "11010519491231002X"
ID_18B = "620503198511110024"
ID_15 = "130503670401001"


@pytest.mark.parametrize("value", [ID_18, ID_18B, ID_15, ID_18.lower()])
def test_id_numbers_are_recognised(value: str) -> None:
    assert is_id_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "91620102MA72ABCD94",  # a 统一社会信用代码
        "110105194912310021",  # a wrong check character
        "110105194913310020",  # month 13
        "11620100MB0000000X",
        "410724************",  # already masked
    ],
)
def test_lookalikes_are_left_alone(value: str) -> None:
    assert not is_id_number(value)
    assert mask_ids(f"x {value} y") == f"x {value} y"


def test_masking_keeps_the_region_and_stars_the_rest() -> None:
    assert mask_ids(f"当事人 {ID_18}，罚款") == "当事人 110105************，罚款"
    assert mask_ids(f'{{"id": "{ID_15}"}}') == '{"id": "130503*********"}'
    assert mask_ids(f"a{ID_18}") == f"a{ID_18}"  # part of a longer token: not a number on its own
    assert mask_deep({"m": [ID_18, (ID_18B,)], "n": 3}) == {
        "m": ["110105************", ("620503************",)],
        "n": 3,
    }


def test_log_lines_carry_no_whole_id_number(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    try:
        get_logger("t").info("row_rejected", excerpt=f"<CF_XDR_ZJHM>{ID_18}</CF_XDR_ZJHM>", rows=[ID_18B])
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    line = json.loads(err.strip().splitlines()[-1])
    assert ID_18 not in err and ID_18B not in err
    assert "110105************" in line["excerpt"]


async def test_a_dead_letter_keeps_no_whole_id_number(database_url: str) -> None:
    async with open_harness(database_url) as api:
        await api.seed()

        def kill(tx: Tx) -> int:
            repo = Repo(tx)
            [item] = [i for i in repo.claim(NOW, 50, "w", NOW + LEASE) if i.target == GS]
            context = {"message": f"rejected row of {ID_18}", "body_excerpt": f"<ZJHM>{ID_18}</ZJHM>", "attempts": 1}
            assert repo.dead_letter(item, "w", context, NOW)
            return item.id

        item_id = await api.runtime.db.run(kill)
        stored = await api.runtime.db.run(
            lambda tx: tx.one("SELECT last_error, dead_context FROM outbox WHERE id = ?", (item_id,)), write=False
        )
        assert stored is not None
        assert ID_18 not in json.dumps(dict(stored), ensure_ascii=False)
        assert "110105************" in stored["last_error"] and "110105************" in stored["dead_context"]
