-- PostgreSQL only (how it stores webhook bodies); nothing changes here.
SELECT 1;
