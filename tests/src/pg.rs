//! A throwaway PostgreSQL cluster under target/ (skeleton).
