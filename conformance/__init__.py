"""Conformance: prove that every runtime answers exactly as the Python reference does.

`conformance run` feeds hypothesis-generated text to the reference
(runtimes/python) and to a runtime under test, in process or through the
testee protocol (testee.proto), and compares tokens, TF-IDF bits, labels and
tag paths exactly and scores within a stated tolerance.
"""
