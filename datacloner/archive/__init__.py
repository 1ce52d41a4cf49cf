"""The masked archive (``.dcz``): its format, its signatures and the checked
schema statements it carries. The dump/restore verbs are in
``datacloner.runtime.archive``."""
