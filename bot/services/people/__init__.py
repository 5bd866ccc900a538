"""Who is who: roles and the actor, customers, owners, staff and their invitations, the
audit log, and odometer readings (``mileage``).
May use: the kernel and outbox."""
