//! The cases of `netcase_cases::linger`.
