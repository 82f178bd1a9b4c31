"""The files of a mail: unpacking archives, sniffing, classifying, reading facts, links, isolation."""
