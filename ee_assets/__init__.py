"""Registration templates for embedding fields (package data, installed as ``aef_ee.fields.templates``)."""
