"""What happens at the counter: the hot write transaction (``books``, ``booking``),
purchases and refunds, redemptions, offers used at the counter, referral rewards and the
post-visit survey.
May use: the kernel, outbox, people and money."""
