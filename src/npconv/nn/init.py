"""Weight initialisers with torch's names and distributions (``npconv.nn.init``)."""
