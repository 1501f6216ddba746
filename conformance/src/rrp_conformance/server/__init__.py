"""The server suite: grades an RRP/1 server over UDP and TCP through raw sockets the suite controls byte by byte."""
