"""The networks and the registry of their facts (title, arguments, parts), their memory estimate
and their export."""
