"""The consensus simulator: ``spacemesh sim``."""
