//! Kernel-behaviour cases live in tests/.
