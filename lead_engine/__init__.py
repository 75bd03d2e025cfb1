"""Lead Engine: inbound lead e-mails in, clean synced company records out."""

__version__ = "0.1.0"
