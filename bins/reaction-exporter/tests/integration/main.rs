//! reaction-exporter end to end: the real binary reading a real log file or real journal
//! files (written by systemd-journal-remote), asking a reaction stand-in for its state,
//! scraped over HTTP; restarts after SIGTERM and `kill -9`.

mod journal;
mod logfile;
mod util;
