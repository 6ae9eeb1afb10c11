"""One module per tool-call format. Each exports ``NAME``, its markers, ``TRIGGERS`` (substrings one
of which must occur before the module is worth trying) and ``parse(text, tools) -> ParseResult | None``
(None: this text is not in this format). The registry (punie.toolcalls.registry) picks among them.
"""
