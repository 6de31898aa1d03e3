"""Activation: PoST setup, the ATX builder (NIPoST pipeline of protocol.md §2.1) and the ATX handler (§2.3).

* :mod:`.post_setup` — PoST data setup states, initialization in a worker thread, the lock that
  refuses to run one identity twice on the same data;
* :mod:`.challenge` — the PoET round timetable of a publish epoch, positioning-ATX selection and
  the NIPoST challenge;
* :mod:`.builder` — the per-identity ATX builder, persisted phase by phase in ``local.sql``;
* :mod:`.handler` — full validation of received ATXs, derived fields, malfeasance proofs.
"""
