"""Subsetting: which rows of a source a smaller copy keeps so that every
foreign key still resolves (docs/subset.md). ``graph`` plans over tables,
``select`` iterates the row selection to a fixpoint through an engine's
:class:`~datacloner.subset.select.Store`. No database code here."""
