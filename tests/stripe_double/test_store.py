"""The double's store: objects by id and by type, kept in creation order, through removal and a state file."""

from __future__ import annotations

from pathlib import Path

from stripe_double.store import Store


def test_objects_of_a_type_come_back_in_creation_order_and_alone() -> None:
    store = Store()
    for n in range(3):
        store.add({"id": f"cus_{n}", "object": "customer"})
        store.add({"id": f"in_{n}", "object": "invoice", "status": "open" if n % 2 else "paid"})
    assert [o["id"] for o in store.all("customer")] == ["cus_0", "cus_1", "cus_2"]
    assert [o["id"] for o in store.find("invoice", status="paid")] == ["in_0", "in_2"]
    assert store.all("subscription") == []


def test_a_removed_object_is_gone_by_id_and_by_type() -> None:
    store = Store()
    store.add({"id": "we_1", "object": "webhook_endpoint"})
    store.add({"id": "we_2", "object": "webhook_endpoint"})
    store.remove("we_1")
    assert store.get("we_1") is None
    assert [o["id"] for o in store.all("webhook_endpoint")] == ["we_2"]


def test_a_saved_state_loads_with_its_types(tmp_path: Path) -> None:
    store = Store()
    store.add({"id": "cus_1", "object": "customer"})
    store.add({"id": "sub_1", "object": "subscription"})
    path = str(tmp_path / "state.json")
    store.save(path)
    loaded = Store()
    loaded.load(path)
    assert [o["id"] for o in loaded.all("subscription")] == ["sub_1"]
    loaded.reset()
    assert loaded.all("customer") == []


def test_an_invoices_payments_come_from_the_index_through_removal_reset_and_a_state_file(tmp_path: Path) -> None:
    store = Store()
    for n in range(4):
        store.add({"id": f"inpay_{n}", "object": "invoice_payment", "invoice": f"in_{n % 2}"})
    store.add({"id": "ch_1", "object": "charge", "invoice": "in_0"})  # another type naming the same invoice
    assert [o["id"] for o in store.children("invoice_payment", "invoice", "in_0")] == ["inpay_0", "inpay_2"]
    store.remove("inpay_0")
    assert [o["id"] for o in store.children("invoice_payment", "invoice", "in_0")] == ["inpay_2"]
    assert [o["id"] for o in store.children("charge", "invoice", "in_0")] == ["ch_1"]  # not indexed: a scan
    path = str(tmp_path / "state.json")
    store.save(path)
    loaded = Store()
    loaded.load(path)
    assert [o["id"] for o in loaded.children("invoice_payment", "invoice", "in_1")] == ["inpay_1", "inpay_3"]
    loaded.reset()
    assert loaded.children("invoice_payment", "invoice", "in_1") == []
