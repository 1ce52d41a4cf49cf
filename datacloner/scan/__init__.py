"""How ``scan`` classifies columns: names, sampled values, frameworks, and the
rules it suggests. No database code; the verb is ``datacloner.runtime.scan``."""
