//! The compile errors of the call macros say what is wrong and how to fix
//! it (trybuild compares them with `tests/ui/*.stderr`; set
//! `TRYBUILD=overwrite` to update those after a deliberate change).

#[test]
fn macro_errors_name_the_argument() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
