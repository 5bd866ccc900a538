"""The business rules, in domain packages with a one-way order (checked by `lint-imports`):

    kernel (context, errors, requests, idempotency, local_days: flat modules here)
      <- outbox <- {people, money} <- rules <- counter <- campaigns <- jobs, insight
      <- members

A package may import the packages to its left, never to its right. Services know nothing
of Telegram, handlers or the chat grammar; they reach the database through ``bot.db``.
"""
