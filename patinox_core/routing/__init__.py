"""Routing: the policy that plans a request (``policy``, ``context``), server health and cooldown
(``health``), and the providers that run a plan (``server``: one server; ``fallback``: candidates in
order)."""
