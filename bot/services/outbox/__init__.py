"""Messages to people: rows queued in the outbox in the transaction of the change they
report, rendered when sent (``deferred_text``), delivered by the sender's side of the queue
(``delivery_queue``). May use: the kernel only.

Queueing a message, the whole public set (anything else here is private):
- ``rows.outbox_row``: builds a row, for any chat (staff, owners); every row ends here.
- ``rows.enqueue``: puts a row through an ORM session (the Core hot paths use
  ``counter.books.Books.queue``, then one insert).
- ``notify.customer_notice``: the row telling a customer of a change their own act
  caused (no opt-in or cap), in their language; None when they are not in the bot.
- ``contact``: the marketing contact rules, their one home: ``reach``/``reach_many`` say
  who may be sent what; ``queue_for`` asks and queues for one customer;
  ``marketing_rows`` builds the rows of customers already asked (a job, a broadcast).
"""
