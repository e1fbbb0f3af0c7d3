"""The article appeal's embed code, for whoever puts it in the newsroom's article template (every staff role)."""
