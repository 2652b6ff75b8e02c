"""The ticket domain: referral tickets, their lifecycle, routing and alerts."""
