"""Compression with learned models: an exact arithmetic coder and the frequency tables it
codes under (the entropy coder of a learned codec)."""
from .arithmetic import FrequencyTable, decode, encode

__all__ = ["FrequencyTable", "encode", "decode"]
