-- Outputs are written per processing attempt (media/<id>/a<attempt>/...) and
-- the fenced finish records which attempt's outputs are live: a worker that
-- lost its lease writes only under its own prefix and can never touch the
-- outputs of the attempt that made the upload ready. '' = media/<id>/ (rows
-- made ready before this migration).
ALTER TABLE uploads ADD COLUMN output_prefix TEXT NOT NULL DEFAULT '';
