"""The matcher of ``verify``: source values turned into needles and searched for
in target values. No database code: the engines supply the reads, and the verb
itself is ``datacloner.runtime.verify``."""
