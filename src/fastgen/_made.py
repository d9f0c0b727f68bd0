"""MADE estimator (placeholder: built by the autoregressive issue)."""


class MADE:
    pass
