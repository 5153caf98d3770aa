"""lanmsg: a serverless LAN messenger and zero-configuration server discovery over mailslots."""

__version__ = "0.1.0"
