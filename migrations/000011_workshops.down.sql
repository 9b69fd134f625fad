DROP TABLE workshop_audit;
DROP TABLE workshop_hands;
DROP TABLE workshop_seat_codes;
DROP TABLE workshop_learners;
DROP TABLE workshops;
ALTER TABLE users DROP COLUMN is_instructor;
