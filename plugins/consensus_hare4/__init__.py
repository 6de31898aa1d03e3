"""The hare4 consensus alternative: hare3's state machine with compact proposal ids."""
