"""Messages to people: putting a row in the outbox (``rows``), rendering queued notices when
sent (``deferred_text``), telling a customer of a change (``notify``), the marketing contact
rules (``contact``) and the sender's side of the queue (``delivery_queue``).
May use: the kernel only."""
