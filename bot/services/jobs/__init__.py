"""The daily jobs: who is due (``selection``), what each gets (birthday and holidays, car
service reminders and trade-in, win-back) and a preview of it for one customer.
May use: everything below members and insight (campaigns included)."""
