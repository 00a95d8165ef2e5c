"""openclaw-patcher: repair OpenClaw installs for openclaw/openclaw#79196, in place."""

__version__ = "0.1.0"
