"""Reading lead e-mails: generic structure first (reader, lexicon), sender profiles second, then normalisation."""
