"""Accounts and the VM (genvm rules): transactions, templates, gas, state, layers and the mempool.

Modules: :mod:`.gas` (constants), :mod:`.state` (accounts, journaled store), :mod:`.template` (the
interface templates implement and the registry), :mod:`.transaction` (parsing, ids, signed bytes,
building), :mod:`.vm` (applying and reverting layers), :mod:`.mempool` (the conservative state),
:mod:`.api` (the v2alpha1-shaped HTTP JSON routes over a VM and a mempool).
"""
