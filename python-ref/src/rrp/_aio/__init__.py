"""asyncio adapters: the server (UDP and TCP endpoints) and the asyncio client. They move bytes and arm timers;
every protocol decision is made by the cores in ``rrp._sansio``.
"""
