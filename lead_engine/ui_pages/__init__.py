"""The pages of the Streamlit operator app and what they share."""
