//! `default_data_dir` reads KILN_DATA and nothing else (its own test binary: it sets the
//! process environment).

#[test]
fn default_data_dir_follows_kiln_data() {
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var("KILN_DATA", "/some/where") };
    assert_eq!(kiln_data::default_data_dir(), Some("/some/where".into()));
    unsafe { std::env::set_var("KILN_DATA", "") };
    assert_eq!(kiln_data::default_data_dir(), None);
    unsafe { std::env::remove_var("KILN_DATA") };
    assert_eq!(kiln_data::default_data_dir(), None);
}
