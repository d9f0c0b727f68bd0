"""Linear AR and VAR models (placeholder: built by the autoregressive issue)."""


class AR:
    pass


class VAR:
    pass
