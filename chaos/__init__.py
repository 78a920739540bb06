"""`make chaos`: the whole system on an embedded moto server under a fault mix."""
