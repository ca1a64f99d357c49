"""Which syncpoint is T: one changefeed's newest row, never the newest row of any changefeed."""

from __future__ import annotations

import pytest

from core.errors import UnsafeToUndoError
from ingest.changefeeds import Syncpoint, advanced, choose_syncpoint, newest_per_changefeed


def sp(feed: str, primary: int, secondary: int, cluster: str = "default") -> Syncpoint:
    return Syncpoint(feed, primary, secondary, cluster)


SHOP = [sp("shop", 10, 100), sp("shop", 20, 200), sp("shop", 30, 300)]
ORDERS = [sp("orders", 15, 150), sp("orders", 35, 350)]


def test_one_changefeed_gives_its_newest_row() -> None:
    assert choose_syncpoint(SHOP) == sp("shop", 30, 300)
    assert choose_syncpoint(reversed(SHOP), changefeed="shop") == sp("shop", 30, 300)


def test_newest_is_by_secondary_ts_as_a_number_then_primary() -> None:
    rows = [sp("a", 5, 9), sp("a", 6, 10), sp("a", 7, 10), sp("b", 1, 8, "c2")]
    assert newest_per_changefeed(rows) == [sp("a", 7, 10), sp("b", 1, 8, "c2")]


def test_two_changefeeds_without_a_name_are_refused_naming_both() -> None:
    with pytest.raises(UnsafeToUndoError) as err:
        choose_syncpoint(SHOP + ORDERS, where="tidb_cdc.syncpoint_v1")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("tidb_cdc.syncpoint_v1 holds syncpoints of 2")
    # newest first, each with its newest secondary_ts, and the flag that picks one
    assert "default/orders (newest secondary_ts 350), default/shop (newest secondary_ts 300)" in msg
    assert "--changefeed NAME" in msg and "--ticdc-cluster" not in msg and "--to-ts" in msg


def test_the_named_changefeed_gives_its_own_newest_row_not_the_newest_of_all() -> None:
    assert choose_syncpoint(SHOP + ORDERS, changefeed="shop") == sp("shop", 30, 300)
    assert choose_syncpoint(SHOP + ORDERS, changefeed="orders") == sp("orders", 35, 350)


def test_two_clusters_sharing_a_changefeed_name_need_the_cluster() -> None:
    rows = [*SHOP, sp("shop", 40, 400, "cdc-b"), *ORDERS]
    with pytest.raises(UnsafeToUndoError) as err:
        choose_syncpoint(rows, changefeed="shop")
    msg = str(err.value)
    assert "cdc-b/shop (newest secondary_ts 400), default/shop (newest secondary_ts 300)" in msg
    assert "orders" not in msg and "--ticdc-cluster ID" in msg
    assert choose_syncpoint(rows, changefeed="shop", ticdc_cluster_id="default") == SHOP[-1]
    assert choose_syncpoint(rows, changefeed="shop", ticdc_cluster_id="cdc-b").secondary_ts == 400
    # without a name, the shared name is still pointed out
    with pytest.raises(UnsafeToUndoError, match=r"3 changefeeds.*--ticdc-cluster ID"):
        choose_syncpoint(rows)


def test_a_cluster_alone_picks_when_it_has_one_changefeed() -> None:
    rows = [*SHOP, sp("other", 40, 400, "cdc-b")]
    assert choose_syncpoint(rows, ticdc_cluster_id="cdc-b") == sp("other", 40, 400, "cdc-b")


def test_no_row_and_no_matching_row_are_refused() -> None:
    with pytest.raises(UnsafeToUndoError, match=r"^t has no row; give --to-ts$"):
        choose_syncpoint([], where="t")
    with pytest.raises(UnsafeToUndoError) as err:
        choose_syncpoint(SHOP + ORDERS, changefeed="nope", where="t")
    msg = str(err.value)
    assert "--changefeed 'nope'" in msg and "default/shop" in msg and "default/orders" in msg


def test_a_row_without_cluster_id_is_named_by_its_changefeed() -> None:
    assert sp("x", 1, 2, "").feed == "x" and sp("x", 1, 2).feed == "default/x"


def test_advanced_names_changefeeds_with_a_newer_or_a_first_syncpoint() -> None:
    before = [sp("shop", 30, 300), sp("orders", 35, 350)]
    after = [sp("shop", 30, 300), sp("orders", 45, 450), sp("new", 1, 5)]
    assert advanced(before, after) == [sp("orders", 45, 450), sp("new", 1, 5)]
    assert advanced(before, before) == []
